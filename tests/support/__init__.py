"""What the tests share: fake states and inventories, lab clients, load and watch threads."""
