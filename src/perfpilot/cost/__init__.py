"""Cost: model prices, cost by model from reported cost or token counts, cheaper-model advice."""
