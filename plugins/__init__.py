"""Special-service channels, one subpackage each; every subpackage here is registered as a plugin."""
