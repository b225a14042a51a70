environment        = "prod"
region             = "eu-west-1"
vpc_cidr           = "10.30.0.0/16"
azs                = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
public_subnets     = ["10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"]
private_subnets    = ["10.30.128.0/20", "10.30.144.0/20", "10.30.160.0/20"]
single_nat_gateway = false

node_instance_types = ["m6i.large"]
node_min_size       = 3
node_max_size       = 9
node_desired_size   = 3

db_instance_class      = "db.m6g.large"
db_multi_az            = true
db_deletion_protection = true

# The one registry every environment pulls from.
create_registry = true

tags = {
  CostCenter = "ironcage-prod"
}
