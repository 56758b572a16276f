"""Answer-type base classes: a benchmark picks one (yes/no, choice, short answer, caption, judged)."""
