"""Workers: processes that claim jobs and run their steps under time and memory limits."""
