"""ssfer's library core: data, models, methods, pseudo-labelling, training and evaluation. It never
imports the study layer (``ssfer_study``), which sits on top of it."""
