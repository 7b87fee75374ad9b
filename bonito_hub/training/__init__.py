"""Training for recipes/sft.py (bonito_hub.sft), split by concern as alignment-handbook does:

    config.py       RecipeConfig, parsing a recipe, packaged recipes by name, the global batch
    data.py         the training data per objective (generator, student, dapt)
    model_utils.py  the model's checks, its tokenizer, what SFTTrainer is told about loading it
    saving.py       the adapter, its record, the merged model, the push; what its folder holds
    progress.py     a line in the log every so often instead of the Trainer's bar
"""

from bonito_hub.errors import RecipeError
from bonito_hub.format import PLAIN_PROMPT, STUDENT_PROMPTS
from bonito_hub.training.config import (OBJECTIVES, RecipeConfig, apply_global_batch, effective_batch_size,
                                        packaged_recipes, parse_recipe, recipe_name, recipe_objective,
                                        recipe_path)
from bonito_hub.training.data import (TrainingData, detect_objective, load_training_data, prepare_data,
                                      prepare_dataset, prompt_style, tokenize_pair)
from bonito_hub.training.model_utils import check_model, configure_trainer, load_tokenizer
from bonito_hub.training.progress import log_progress_instead_of_bars
from bonito_hub.training.publish import push_adapter
from bonito_hub.training.saving import (PACKAGES, RECORD_NAME, ManifestCallback, check_output_dir, kept, plan_push, save,
                                        write_training_record)

__all__ = ["OBJECTIVES", "PACKAGES", "PLAIN_PROMPT", "RECORD_NAME", "RecipeConfig", "RecipeError", "STUDENT_PROMPTS",
           "TrainingData", "apply_global_batch", "check_model", "check_output_dir", "configure_trainer", "detect_objective",
           "effective_batch_size", "load_tokenizer", "load_training_data", "log_progress_instead_of_bars", "ManifestCallback", "kept", "packaged_recipes", "parse_recipe", "recipe_name", "plan_push",
           "prepare_data", "prepare_dataset", "prompt_style", "push_adapter", "recipe_objective", "recipe_path", "save", "tokenize_pair",
           "write_training_record"]
