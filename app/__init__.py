"""jobql: the jobs API of a security-analysis platform, served as GraphQL."""
