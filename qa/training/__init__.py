"""Training: ``qa train`` fits the answer decision on SQuAD through the whole pipeline, split by article."""
