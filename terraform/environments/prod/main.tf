module "platform" {
  source = "../../modules/platform"

  environment            = var.environment
  vpc_cidr               = var.vpc_cidr
  azs                    = var.azs
  public_subnets         = var.public_subnets
  private_subnets        = var.private_subnets
  single_nat_gateway     = var.single_nat_gateway
  node_instance_types    = var.node_instance_types
  node_min_size          = var.node_min_size
  node_max_size          = var.node_max_size
  node_desired_size      = var.node_desired_size
  db_instance_class      = var.db_instance_class
  db_multi_az            = var.db_multi_az
  db_deletion_protection = var.db_deletion_protection
  create_registry        = var.create_registry
  tags                   = var.tags
}
