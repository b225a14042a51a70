# Addresses from before modules/platform composed the environment: with these, a state
# holding module.network (and the rest) moves its resources instead of replacing them.
# Remove this file once every environment's state has been applied with it.

moved {
  from = module.network
  to   = module.platform.module.network
}

moved {
  from = module.cluster
  to   = module.platform.module.cluster
}

moved {
  from = module.registry
  to   = module.platform.module.registry
}

moved {
  from = module.database
  to   = module.platform.module.database
}

moved {
  from = module.storage
  to   = module.platform.module.storage
}
