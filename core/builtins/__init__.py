"""Built-in behaviour, registered as plugins like any other."""
