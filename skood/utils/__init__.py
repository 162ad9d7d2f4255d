"""Small utilities shared across skood's subpackages."""
