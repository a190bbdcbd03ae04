"""Operating at scale: rebalancing (planner first; execution, capacity and cost to come)."""
