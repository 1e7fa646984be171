"""Listening to the audio: log-mel spectrograms, a small CNN for genre and mood, and
audio embeddings for tracks nobody has played (cold start).

Modules: ``signal`` (decode, resample, log-mel, classic features, the on-disk cache),
``clips`` (a labelled folder of clips, artist/song groups, Emotify mood labels),
``cnn`` (the network, augmentation, training through :mod:`encore.nn.trainer`, save/load),
``evaluate`` (grouped CV of the CNN and the baselines, mood, cold start),
``store`` (embeddings in ``track_features``, nearest tracks) and ``cli``.
librosa, soundfile and torch are imported inside the functions that need them.
"""
