"""Kafka -> Apache Iceberg: the schema mapping and the exactly-once table committer.

The sink that feeds them (consuming a topic, supervised by ``up``), queries and OLAP
engine configs build on these two modules.
"""
