"""Incidents: opening, the lifecycle, roles and links (``services``), who reads and runs them
(``selectors``), and the parts an incident page shows, one module each."""
