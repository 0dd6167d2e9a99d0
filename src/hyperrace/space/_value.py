"""The type of a hyperparameter's value."""

#: A hyperparameter value: the JSON-native scalar types.
Value = str | int | float | bool
