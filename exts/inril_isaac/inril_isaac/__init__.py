"""inril_isaac: the inril furniture-assembly tasks as an Isaac Lab 3 extension.

Importing `inril_isaac.tasks` registers every inril task with gymnasium. The modules directly in this
package (`layout`, `frames`, `agent_values`, `registration`) do not import Isaac Lab, so the
spec-to-Isaac-Lab translation is tested without Isaac Sim.
"""

__version__ = "0.1.0"
