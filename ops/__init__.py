"""Operations: what operators scrape (metrics) and what lets several copies of a process run (leases)."""
