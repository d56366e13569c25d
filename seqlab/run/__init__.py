"""One run and its folder: ``job.py`` runs a validated job (threads, resume, build, fit, test, results.json),
``folder.py`` claims a fresh run or sweep folder and records a failure, ``lock.py`` keeps one writer per folder,
``resume.py`` resolves ``resume=`` to a checkpoint, ``summary.py`` prints the summary that ends a run."""
