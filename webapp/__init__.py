"""webapp: the Flask side of rnnlab (pages, forms, JSON API); ``gunicorn 'webapp:create_app()'``.

``create_app`` imports the factory only when called, so that importing ``webapp.records`` or
``webapp.settings`` (which the worker shares) loads no Flask.
"""


def create_app(test_config: dict | None = None):
    """Build the Flask app: defaults, then the environment, then ``test_config``."""
    from webapp.factory import build_app

    return build_app(test_config)
