"""Copy task: recall a random symbol string after a delay of T blanks."""
