"""What a training run leaves: the adapter or model, its tokenizer, the loss history, its record
(training_record.json), the merged model when asked, and a push with bonito-hub's card.
"""

from __future__ import annotations

from pathlib import Path

from bonito_hub import hub, records
from bonito_hub.console import get_logger
from bonito_hub.errors import RecipeError
from transformers import TrainerCallback

from bonito_hub.folders import Manifest, foreign_files
from bonito_hub.records import make_record, write_record
from bonito_hub.training.config import RecipeConfig, effective_batch_size
from bonito_hub.training.data import TrainingData

RECORD_NAME = records.TRAINING
PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
log = get_logger(__name__)


class ManifestCallback(TrainerCallback):
    """Lists what the Trainer writes in the output folder in its manifest (bonito_hub.folders): a
    checkpoint's folder is claimed before the Trainer saves into it, so that what a save killed
    midway leaves is ours; after a save, every new file (TRL's card beside the first checkpoint)."""

    def __init__(self, output_dir):
        self.manifest = Manifest(output_dir)
        self.saving: str | None = None  # the checkpoint being written, until its save ends

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save and state.is_world_process_zero:
            self.saving = f"checkpoint-{state.global_step}"
            self.manifest.create().claim_dir(self.saving)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.saving = None
            self.manifest.record_all()

    def remove_partial(self) -> str | None:
        """Remove the checkpoint a failed save left half written; its name, or None."""
        from bonito_hub.folders import remove_folder

        partial, self.saving = self.saving, None
        if partial and (self.manifest.root / partial).exists():
            remove_folder(self.manifest.root / partial)
            self.manifest.forget(partial)
            return partial
        return None


def kept(output_dir) -> str:
    """What an interrupted or failed training leaves, and how to go on, in a few words."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(output_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if last:
        name = Path(last).name
        return (f"the last checkpoint ({name}) is kept in {output_dir}: run the same command with "
                f"resume_from_checkpoint={Path(output_dir) / name} to go on")
    return f"no checkpoint was saved yet, so nothing is kept in {output_dir}: run the same command to start again"


def check_output_dir(output_dir) -> None:
    """A training's output folder is new, empty, or one of ours (an earlier or interrupted run):
    the Trainer writes its card and files there, and replaces what has their names."""
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise RecipeError(f"output_dir {output_dir} exists and is not a folder", field="output_dir")
    foreign = foreign_files(folder) if folder.is_dir() else []
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise RecipeError(f"output_dir {output_dir} holds files bonito-hub did not write ({shown}); training "
                          "writes only into a new or empty folder, or one an earlier training wrote: choose another "
                          "output_dir", field="output_dir")


def plan_push(script_args: RecipeConfig, training_args, model_args) -> dict | None:
    """With push_to_hub, bonito-hub pushes the adapter itself after training, with its own card
    (TRL's and PEFT's cards say library_name transformers and drop a base model loaded from a
    folder), so the Trainer is told not to push. Everything the push needs is checked here, before
    training: the repo id, a Hub id for the base model, an adapter to push."""
    from bonito_hub.errors import BonitoError
    from bonito_hub.push import check_repo_id

    if not training_args.push_to_hub:
        return None
    repo_id = training_args.hub_model_id
    if not repo_id:
        raise RecipeError("push_to_hub needs hub_model_id: the ORG/NAME to push the adapter to")
    if not model_args.use_peft:
        raise RecipeError("push_to_hub pushes an adapter (bonito push adapter); this recipe trains without use_peft")
    base = script_args.push_base_model or model_args.model_name_or_path
    if hub.is_local(base):
        raise RecipeError(f"push_to_hub: the base model {base!r} is a local folder; set push_base_model to its Hub id")
    try:
        check_repo_id(repo_id)
        hub.check_reachable(f"push_to_hub to {repo_id}")
    except BonitoError as exc:
        raise RecipeError(str(exc)) from None
    training_args.push_to_hub = False
    return {"repo_id": repo_id, "base_model": base, "public": training_args.hub_private_repo is False}


def save(trainer, tokenizer, script_args: RecipeConfig, training_args, model_args, data: TrainingData,
         result, started: float, push: dict | None = None) -> None:
    """The adapter or model, its tokenizer, the loss history, the record, (with `merge`) the
    adapter merged into its base model in OUTPUT/merged, and (with `push`, from `plan_push`) the
    adapter pushed with its card."""
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss history, beside the adapter
    if not trainer.accelerator.is_main_process:
        return
    tokenizer.save_pretrained(training_args.output_dir)
    metrics = dict(result.metrics)
    if data.evaluation is not None:
        metrics.update(trainer.evaluate())
    if script_args.merge and model_args.use_peft:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(f"{training_args.output_dir}/merged")
        tokenizer.save_pretrained(f"{training_args.output_dir}/merged")
    write_training_record(training_args.output_dir, script_args, training_args, model_args, data.objective,
                          data.train, metrics, started, data.prompt_style, cut=data.cut)  # last: its manifest lists the rest
    Manifest(training_args.output_dir).record_all()
    log.info("saved to %s (%s, %d examples)", training_args.output_dir, data.objective, len(data.train))
    if push is not None:
        from bonito_hub.training.publish import push_adapter

        upload = push_adapter(training_args.output_dir, push["repo_id"], public=push["public"],
                              base_model=push["base_model"])
        log.info("pushed %d files to %s (%s)", len(upload.files), upload.url, "public" if push["public"] else "private")


def write_training_record(output_dir: str, recipe: RecipeConfig, training_args, model_args, objective: str,
                          train_dataset, metrics: dict, started: float, prompt_style: str | None = None,
                          cut: dict | None = None) -> Path:
    record = make_record(
        {"script_args": recipe, "training_args": training_args, "model_args": model_args},
        packages=PACKAGES, started=started,
        objective=objective, recipe=recipe.recipe, prompt_style=prompt_style,
        effective_batch_size=effective_batch_size(training_args), processes=training_args.world_size,
        data={"name": recipe.dataset_name, "config": recipe.dataset_config, "rows": len(train_dataset),
              "fingerprint": getattr(train_dataset, "_fingerprint", None),
              **({"cut": cut} if cut else {})},
        metrics=metrics,
    )
    folder = Path(output_dir)
    # the manifest: everything this run left in its folder, so that a file put there later is told apart
    record["files"] = sorted({p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
                             | {RECORD_NAME})
    return write_record(folder / RECORD_NAME, record)
