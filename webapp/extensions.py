"""Flask extensions, created unbound here and bound to an app in ``webapp.factory``."""
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy()
csrf = CSRFProtect()
