"""The monthly reports consumer: `fitboard reports`, or inside `fitboard serve` embedded."""
