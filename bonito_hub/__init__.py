"""bonito-hub: synthetic instruction tuning for domain adaptation (Bonito) on the Hugging Face stack."""

__version__ = "0.1.0"
