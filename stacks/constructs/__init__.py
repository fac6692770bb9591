"""The shapes both variants repeat: foundation (key, buckets, topic), function, work queue."""
