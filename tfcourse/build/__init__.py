"""The tools that build the course from its notebooks, apart from the CNN library the notebooks import.

* :mod:`tfcourse.build.cells`: read and write notebook files, a cell's source (shared by all below);
* :mod:`tfcourse.build.hygiene`: strip outputs for commit, stable cell ids, and their checks;
* :mod:`tfcourse.build.student`: student versions (solutions replaced by stubs);
* :mod:`tfcourse.build.slides`: reveal.js slide decks;
* :mod:`tfcourse.build.course`: the executed course, its ``results.json`` and results table;
* :mod:`tfcourse.build.cli`: the command line, ``python -m tfcourse``.

They need the ``build`` extra (``pip install -e ".[build]"``: nbformat, nbconvert, nbclient, tqdm);
the library (``tfcourse`` and ``tfcourse.layers``) does not. Importing this package imports none
of them, so ``python -m tfcourse fetch`` works without the extra.
"""
