"""The book: the list of chapters (:mod:`~derain.book.chapters`), what the
experiment chapters share (:mod:`~derain.book.study`), the tables and figures the
chapters show (:mod:`~derain.book.tables`, :mod:`~derain.book.plots`), the
interactive explorer (:mod:`~derain.book.explore`) and the glue to papermill, DVC
and Jupyter Book (:mod:`~derain.book.pipeline`)."""
