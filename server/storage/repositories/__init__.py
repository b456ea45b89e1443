"""Repository functions: take an `AsyncSession`, run queries, never commit."""
