environment        = "staging"
region             = "eu-west-1"
vpc_cidr           = "10.20.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
public_subnets     = ["10.20.0.0/20", "10.20.16.0/20", "10.20.32.0/20"]
private_subnets    = ["10.20.128.0/20", "10.20.144.0/20", "10.20.160.0/20"]
single_nat_gateway = true

node_instance_types = ["t3.large"]
node_min_size       = 2
node_max_size       = 4
node_desired_size   = 2

db_instance_class      = "db.t4g.small"
db_multi_az            = false
db_deletion_protection = true

create_registry = false

tags = {
  CostCenter = "ironcage-staging"
}
