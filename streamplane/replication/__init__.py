"""Replication between the spec's clusters: MirrorMaker 2 planned, run, watched, failed over.

``config`` turns a flow of the spec into MM2's dedicated-mode properties; ``supervisor``
keeps its JVM running; ``records`` decodes MM2's offset syncs, checkpoints and heartbeats;
``observe`` measures each flow's lag from them; ``failover`` moves consumer groups.
"""
