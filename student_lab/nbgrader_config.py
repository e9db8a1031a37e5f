"""nbgrader's settings for the student's JupyterLab (make lab puts this folder on the config path): the exchange
its assignment list reads, where the course releases and collects (make lab's LAB_EXCHANGE)."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.Exchange.root = os.environ.get("BACKPROP_NINJA_EXCHANGE", "/srv/nbgrader/exchange")
