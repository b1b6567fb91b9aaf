"""``squall plan``: schedulability analysis for task sets and topologies.

- ``model``: tasks (C, T, D, J, B, priority) and test results, with exact (Fraction) numbers;
- ``fixed_priority``: utilization bounds (Liu & Layland, hyperbolic) and response-time analysis;
- ``edf``: EDF utilization, processor demand (QPA, earliest violation), density, LLF;
- ``cyclic``: the cyclic executive: hyperperiod, frame sizes, a time grid, a Gantt chart;
- ``simulate``: discrete-time schedules the analysis is checked against;
- ``analysis``: every applicable test on one task set.
"""
