"""{{ cookiecutter.description }}.

Install the package and claudette finds the backend ``{{ cookiecutter.__plugin_name }}``
through the ``claudette.backends`` entry point; nothing else to configure.
"""

from {{ cookiecutter.__module_name }}.backend import {{ cookiecutter.class_name }}

__all__ = ["{{ cookiecutter.class_name }}", "__version__"]

__version__ = "0.1.0"
