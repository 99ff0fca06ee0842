"""`hepinfer demo`: one run from a trained model to firmware, service and measurements.

Each step is a function of its own module (`data`, `model`, `firmware`, `service`), and
`report` renders what they measured into `report.md` / `report.html` from the template files
in `templates/`. `run.run_demo` chains them; `hepinfer.commands.demo` is the command line.
"""
