# One environment of the platform: network, EKS cluster, image registry, PostgreSQL and
# the artifact bucket, named ironcage-<environment> and tagged alike.

locals {
  name = "ironcage-${var.environment}"
  tags = merge(var.tags, {
    Project     = "ironcage"
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

module "network" {
  source = "../network"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  public_subnets     = var.public_subnets
  private_subnets    = var.private_subnets
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "cluster" {
  source = "../cluster"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.network.private_subnet_ids
  node_instance_types = var.node_instance_types
  node_min_size       = var.node_min_size
  node_max_size       = var.node_max_size
  node_desired_size   = var.node_desired_size
  tags                = local.tags
}

module "registry" {
  source = "../registry"
  count  = var.create_registry ? 1 : 0

  tags = local.tags
}

module "database" {
  source = "../database"

  identifier                 = local.name
  instance_class             = var.db_instance_class
  multi_az                   = var.db_multi_az
  deletion_protection        = var.db_deletion_protection
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.cluster.cluster_security_group_id]
  tags                       = local.tags
}

module "storage" {
  source = "../storage"

  bucket_name = "${local.name}-artifacts"
  tags        = local.tags
}
