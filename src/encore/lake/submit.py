"""The driver file for ``spark-submit``: runs the ``encore`` command line on the cluster's master.

``spark-submit`` starts a Python application from a ``.py`` file, not from a console
script, so the cluster runs Encore through this file::

    spark-submit --master yarn --deploy-mode client \\
        "$(python -c 'import encore.lake.submit as s; print(s.__file__)')" \\
        analytics genres --engine spark --lake /data/encore.lake -f json

:func:`encore.lake.spark.spark_session` keeps the master (and every ``--conf``) that
``spark-submit`` chose.
"""

from __future__ import annotations

if __name__ == "__main__":
    from encore.cli.main import main

    main()
