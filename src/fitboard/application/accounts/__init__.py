"""Athletes' accounts: registration, sign-in, profiles, admins, and rate budgets."""
