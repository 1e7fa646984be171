"""Encore recommenders: one interface, one file per model, a name -> class registry.

A model is one module of this package: a :class:`~encore.recommenders.base.Recommender`
subclass with its own ``name`` and a pydantic ``config_class``, and beside them what the
rest of Encore reads from the class: ``supports_fold_in``, ``supports_explain`` and
``supports_similar_items``; ``search_space`` (the grid ``encore evaluate --tune``
searches); ``item_limit`` (``--models all`` leaves the model out above that many items);
``baseline_rank`` (a baseline every comparison keeps). The package is scanned on first
use, so a new file here is listed by ``encore evaluate --models all`` with no other edit.

The models and what they support are listed by the registry rather than here:
:func:`~encore.recommenders.registry.describe_models` (name, summary, capabilities,
config defaults), :func:`~encore.recommenders.registry.available_models` and
:func:`~encore.recommenders.registry.capable_models` (e.g. ``capable_models("explain")``).

The other modules: :mod:`~encore.recommenders.base` (the interface, saving and loading
through :mod:`encore.persistence`), :mod:`~encore.recommenders.ranking` (the top-k
engine), :mod:`~encore.recommenders.linalg` (shared linear-algebra helpers),
:mod:`~encore.recommenders.recommend` (the recommend path: a user's list, named and with
its reasons, from a saved or freshly fitted model).

Usage::

    from encore.data.dataset import InteractionDataset, build_interactions
    from encore.recommenders.registry import get_model

    ds = InteractionDataset.from_interactions(build_interactions(store, level="artist"),
                                              item_level="artist")
    model = get_model("ease", l2=500.0).fit(ds)
    model.recommend(["hetrec:2"], k=10)         # user_id, item_id, score, rank
    model.recommend_for_interactions([51, 52])   # a user unseen at fit time
    model.explain("hetrec:2", [89], n=3)         # the user's items behind a score
    model.save("ease.npz"); Recommender.load("ease.npz")
"""
