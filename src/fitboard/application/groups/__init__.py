"""Groups and challenges: private boards, and boards over any window."""
