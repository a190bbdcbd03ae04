"""Rebalancing: a model of brokers and partitions, a planner that moves the fewest bytes."""

from streamplane.ops.rebalance.model import Broker, ClusterModel, Partition
from streamplane.ops.rebalance.planner import Goals, Move, Plan, plan_rebalance

__all__ = ["Broker", "ClusterModel", "Goals", "Move", "Partition", "Plan", "plan_rebalance"]
