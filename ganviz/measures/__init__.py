"""Numbers about generators: artifact and quality measures, paired verdicts over seeds.
They return numbers; present/ turns them into figures."""
