"""Figures, image grids, the HTML report and the operator explainer, made from measures."""
