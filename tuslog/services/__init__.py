"""Plain async functions over an AsyncSession. They raise TuslogError, never web.HTTP*."""
