"""Encore recommenders: one interface, one file per model, a name -> class registry.

=================  ===========================================  =======  =======
name               model                                        fold-in  explain
=================  ===========================================  =======  =======
``popular``        most popular (users or total weight)         yes      no
``recent_popular`` popularity with a time-decay half-life       yes      no
``item_knn``       item kNN, cosine or BM25 similarity          yes      yes
``user_knn``       user kNN, cosine                             yes      yes
``als``            implicit-feedback ALS (``implicit``)         yes      yes
``bpr``            BPR matrix factorisation (``implicit``)      no       no
``ease``           EASE, float32 Cholesky inverse, pruning      yes      yes
``pure_svd``       PureSVD, randomized truncated SVD            yes      yes
``slim``           fsSLIM, ElasticNet over top candidates       yes      yes
=================  ===========================================  =======  =======

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
