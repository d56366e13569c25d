"""What several tasks share: the TBPTT loop, optimizers and schedules, callbacks, the Trainer."""
