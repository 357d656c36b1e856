"""Model-based sizing: M/M/c (Erlang C) from measured arrival and service rates."""
