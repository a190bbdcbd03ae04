"""What a cluster costs, from the spec, the live topology and measured traffic, and what
each change (follower fetching, tiered storage, compression) would save."""
