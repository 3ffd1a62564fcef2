"""What people read: principal reasons, confidence and quality gates, counterfactuals,
narratives and copy coverage, all from the model card's reviewed words."""
