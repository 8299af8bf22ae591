"""qa: grounded question answering over a folder of documents, with verbatim cited answers."""

# First: qa.build reads qa.__version__ while the imports below are still running.
from qa.config import __version__  # isort: split

from qa.api import Engine, ask
from qa.build import build_index
from qa.config import Settings
from qa.index import IndexProblem, load_index
from qa.schema import Answer, Citation, Hit, Passage

__all__ = [
    "Answer", "Citation", "Engine", "Hit", "IndexProblem", "Passage", "Settings",
    "__version__", "ask", "build_index", "load_index",
]
